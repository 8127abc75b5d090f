"""``review`` stage: apply the git-tracked decisions file; optionally work with the FiftyOne App.

Plain ``pcbforge review`` (what ``dvc repro`` runs) needs no database: it joins the crawl,
dedup and quality manifests with ``review.decisions`` and writes ``accepted.parquet``.
``--pull`` first merges the annotators' FiftyOne tags into the decisions file, ``--build``
(re)builds the FiftyOne dataset and its saved views, ``--launch`` builds and serves the App
until Ctrl-C. FiftyOne is imported only for those flags.
"""

from __future__ import annotations

import logging
from typing import Any

from pcbforge.clean.review import apply_decisions, read_decisions
from pcbforge.config import Params
from pcbforge.datasets.manifest import MANIFEST_NAMES, manifest_path, read_manifest, write_manifest
from pcbforge.io import staged_dir
from pcbforge.vocab import Status

log = logging.getLogger(__name__)

MANIFEST = MANIFEST_NAMES["review"]


def run(
    params: Params,
    build: bool = False,
    launch: bool = False,
    pull: bool = False,
    block: bool = True,
    **_: Any,
) -> str:
    """Run the review stage.

    Args:
        params: validated params.
        build: (re)build the FiftyOne dataset and saved views.
        launch: build, then serve the App on ``review.address:review.port``.
        pull: merge the annotators' tags from FiftyOne into the decisions file first.
        block: with ``launch``, wait until Ctrl-C (tests pass False and close the App).

    Returns:
        A one-line summary saying where the results are.
    """
    cfg = params.review
    crawl_out = params.path(params.crawl.out)
    decisions_path = params.path(cfg.decisions)
    out = params.path(cfg.out)
    # A relabel must name a class of the project's taxonomy.
    classes = params.taxonomy().names()
    parts: list[str] = []

    fiftyone_review = None
    if build or launch or pull:
        from pcbforge.clean import fiftyone_review

        fiftyone_review.configure(params.path(cfg.database_dir))

    if pull:
        assert fiftyone_review is not None
        pulled = fiftyone_review.pull(cfg.dataset_name, decisions_path, classes=classes)
        parts.append(f"{pulled.changed} decision(s) pulled into {decisions_path}")
        if pulled.file_changed:
            parts.append(
                f"{decisions_path.name} had changed since the last build/pull: kept as it is, "
                f"tags of {pulled.retagged} sample(s) reset to it"
            )
        if pulled.ignored:
            parts.append(f"{len(pulled.ignored)} tag(s) ignored: {'; '.join(pulled.ignored[:3])}")

    images = read_manifest(manifest_path(params, "crawl"), "crawl")
    dedup = read_manifest(manifest_path(params, "dedup"), "dedup")
    quality = read_manifest(manifest_path(params, "quality"), "quality")
    decisions = read_decisions(decisions_path, classes)
    accepted, stale = apply_decisions(images, dedup, quality, decisions, cfg.drop_quality_flags)
    with staged_dir(out) as tmp:
        write_manifest(accepted, tmp / MANIFEST, stage="review")
    counts = accepted["status"].value_counts()
    summary = (
        f"{counts.get(Status.OK.value, 0)} of {len(accepted)} images accepted "
        f"({counts.get(Status.REJECTED.value, 0)} rejected, {counts.get(Status.ERROR.value, 0)} errors; "
        f"{len(decisions)} decision(s) from {decisions_path}"
        + (f", {len(stale)} for unknown ids ignored" if stale else "")
        + f") -> {out / MANIFEST}"
    )
    parts.insert(0, summary)

    if build or launch:
        assert fiftyone_review is not None
        dataset = fiftyone_review.build(
            cfg.dataset_name, images, dedup, quality, decisions_path, crawl_out, cfg.drop_quality_flags, classes
        )
        parts.append(
            f"FiftyOne dataset {cfg.dataset_name!r}: {len(dataset)} samples, "
            f"{len(dataset.list_saved_views())} saved views"
        )
        if launch:
            url = f"http://{cfg.address}:{cfg.port}/datasets/{cfg.dataset_name}"
            fiftyone_review.launch(dataset, cfg.address, cfg.port, block=block)
            parts.append(f"App was served at {url}" if block else f"App serving at {url}")
    return "; ".join(parts)
